"""The pipeline's stages in plain code over our own types: the exchange in flight, the plans a mode
chooses, the answer sources, the faults stage. The mitmproxy addons (`addons/`) are adapters over them."""
