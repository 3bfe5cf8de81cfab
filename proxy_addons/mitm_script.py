"""Entry point for people who run mitmproxy themselves:

mitmdump -s "$(orange-proxy addon-path)" --set orange_profile=camara
"""

from proxy_addons.addons import default_addons

addons = default_addons()
