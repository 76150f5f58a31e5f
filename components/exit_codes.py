"""Exit codes the program and the project's language host agree on. Standard library only:
tools/language_host/host.py loads this file by path (it runs outside the program)."""

# The program reports its own error and exits with this code to ask the engine not to print
# another one: Pulumi's convention (its exec script's
# PYTHON_PROCESS_EXITED_AFTER_SHOWING_USER_ACTIONABLE_MESSAGE_CODE, its `RunError` path).
BAIL_EXIT_CODE = 32
