"""Test and benchmark support: fixtures, throwaway instances, drivers, generators."""
