"""modelroute_langchain adapter."""
