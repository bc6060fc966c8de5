"""Who answers for which assets: shown as owners in the UI. Replace with your own teams."""

DATA_OWNERS = ["team:data-platform"]
ML_OWNERS = ["team:ml-engineering"]
