"""s3lite: an S3-compatible gateway that cuts every object into six parts kept on GridFS nodes."""
