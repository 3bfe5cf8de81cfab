"""orange-camara-proxy: a recording / replaying / synthesising test proxy for Orange's CAMARA APIs.

The mitmproxy addons live in :mod:`proxy_addons.addons`; everything they call (routing, OAuth, the
per-API knowledge, rules, schemas) is plain Python with no mitmproxy import, so the same engine can
answer over any transport.
"""

__version__ = "0.1.0"
