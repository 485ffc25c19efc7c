"""`modelroute eval`: one prompt set across several models, scored and compared."""
