"""The vcrpy helper's public import path, as README documents it: `from proxy_addons.vcr import
orange_vcr`. It lives with the other integrations, in `proxy_addons/integrations/vcr.py`."""

from proxy_addons.integrations.vcr import orange_vcr

__all__ = ["orange_vcr"]
