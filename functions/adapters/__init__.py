"""Adapters: the only code that talks to AWS (boto3) or memories.ai (requests). Each takes its client
as an argument, so tests hand it one pointed at DynamoDB Local, the moto server or the emulator."""
