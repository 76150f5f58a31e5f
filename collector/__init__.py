"""The delivery-data collector: receives Twilio message status callbacks, checks their
signatures, stores every event durably and exactly once, and reports on delivery.

`python -m collector serve | report | export | migrate | wait` (see `collector.__main__`).
"""
