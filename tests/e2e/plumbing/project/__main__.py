import pulumi
from greeting import Greeting

config = pulumi.Config()
greeting = Greeting("hello", message=config.require("message"), store=config.require("store"))
pulumi.export("message", greeting.message)
pulumi.export("token_fingerprint", greeting.token_fingerprint)
