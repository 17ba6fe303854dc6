"""A storage node: keeps parts in GridFS and serves them to the gateway."""
