"""The Amazon S3 protocol, kept pure: names, error codes, XML bodies and listing logic.

Nothing here does I/O or imports Tornado or a database driver, so the gateway's handlers stay
thin and every rule of the protocol can be tested directly.
"""
