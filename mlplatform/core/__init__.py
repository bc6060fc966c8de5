"""Pure ML/data core: plain functions on pandas, numpy and scikit-learn. No Dagster imports."""
