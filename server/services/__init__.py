"""Services: the domain rules. Never import aiohttp; raise server.errors, never HTTP errors."""
