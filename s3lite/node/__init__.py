"""A storage node: keeps the shards the gateway places on it and serves them back."""
