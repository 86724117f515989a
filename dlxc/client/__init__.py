"""The API client library every component and the CLI use: client, informer, errors, config,
leader election, work queue. It imports nothing of the CLI or the components, and this file
imports nothing at all, so `dlxc.client.errors` can be loaded without aiohttp."""
