"""The chart builders pages draw (pure functions in edtech; re-exported so pages import only `ui`)."""

from edtech.adoption.viz import *  # noqa: F403
from edtech.core.charts import spend_by_category, utilization_bar, weekly_active_line  # noqa: F401
from edtech.roi import viz as roi  # noqa: F401
