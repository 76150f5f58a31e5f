"""tools/language_host/protocol.py: the host's protocol messages without the rest of the SDK."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST_DIR = REPO_ROOT / "tools" / "language_host"

CHECK = """
import sys
sys.path.insert(0, sys.argv[1])
import protocol
loaded_sdk = sorted(m for m in ("pulumi", "pulumi.runtime", "pulumi.output") if m in sys.modules)
names = [protocol.language_pb2.RunRequest.DESCRIPTOR.full_name,
         protocol.plugin_pb2.PluginInfo.DESCRIPTOR.full_name,
         protocol.language_pb2_grpc.LanguageRuntimeServicer.__name__]
import pulumi.runtime
from pulumi.runtime.proto import language_pb2
print(loaded_sdk, names, language_pb2 is protocol.language_pb2, hasattr(pulumi, "Output"))
"""


def test_the_protocol_loads_without_the_sdk_and_the_sdk_still_imports_after() -> None:
    answer = subprocess.run(
        [sys.executable, "-c", CHECK, str(HOST_DIR)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    expected = (
        "[] ['pulumirpc.RunRequest', 'pulumirpc.PluginInfo', 'LanguageRuntimeServicer'] True True"
    )
    assert answer == expected
