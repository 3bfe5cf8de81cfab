"""Secret scrubbing for cassettes recorded from real traffic.

`places` says where secrets live and walks them; the rewriters say what each becomes: stable
`placeholders` for storage, `masks` for matching, `pseudonyms` for phone numbers. `Scrubber` puts
them together for one cassette; `leaks` checks a cassette's text for secret shapes that survived.
"""

from proxy_addons.scrubbing.leaks import leaks
from proxy_addons.scrubbing.placeholders import is_placeholder
from proxy_addons.scrubbing.places import ScrubConfig
from proxy_addons.scrubbing.scrubber import Scrubber

__all__ = ["ScrubConfig", "Scrubber", "is_placeholder", "leaks"]
