"""daybook: batch operations for financial-services outsourcing, on Apache Airflow."""

__version__ = "0.1.0"
