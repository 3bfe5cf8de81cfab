"""Using the proxy's behaviour elsewhere: vcrpy in-process (`vcr`), the pytest plugin, and the stand-in
server for api.orange.com."""
