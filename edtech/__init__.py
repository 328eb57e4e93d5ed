"""EdTech Compass: decision support for a district's education-technology spending.

The package never imports Streamlit; the app in `app.py` and the command line
(`python -m edtech`) are two front ends over the same functions.
"""

from edtech.core.district import District, conform_frame, empty_frame

__all__ = ["District", "conform_frame", "empty_frame"]
__version__ = "0.1.0"
