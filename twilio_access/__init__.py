"""Talking to Twilio: the one package that builds `twilio.rest.Client`s.

- `client`: client construction, and routing every Twilio domain to the local emulator;
- `transport`: retries (429 with Retry-After, 5xx and dropped connections where repeating is
  harmless) and bounded requests in flight per account;
- `credentials`: where the parent's credentials come from, and subaccount token lookup;
- `consistency`: waiting out Twilio's read-after-write lag;
- `dev_defaults`: the emulator's documented development credentials and URL, as constants.

Where it sits: providers, the collector, estate (audit), scripts and bench import it; it imports
nothing of the project (only `twilio` and `requests`), and nothing of the emulator, which it
reaches over HTTP like any Twilio (tests/unit/test_layering.py holds both).
"""
