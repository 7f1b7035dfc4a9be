"""HTTP routes, one blueprint per dialect or concern, each given its dependencies explicitly."""
