"""Reading articles: files found, text extracted (HTML, PDF), page furniture cleaned, titles, passages cut;
the corpus folder's library, trash and watcher."""
