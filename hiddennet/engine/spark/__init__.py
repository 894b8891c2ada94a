"""Pieces of the Spark engine that do not need pyspark (the SQL translation)."""
