"""Cassettes, split as vcrpy splits them: the in-memory `model`, the `cassette` (a file and its
interactions), the YAML `serializer` and the file `persister`; and what the proxy adds on top:
`matching` (the replay index), `tape` (the cassette in use), `check` (`orange-proxy cassette check`)
and `content_codings` (how stored bodies are decoded).
"""
