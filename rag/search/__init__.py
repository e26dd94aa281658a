"""Finding passages: dense, keyword and hybrid retrieval, fusion, the sentence rerank, spelling and
follow-up questions."""
