"""The gateway: speaks S3, cuts objects into six parts, keeps metadata and the node list."""
