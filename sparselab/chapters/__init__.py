"""The book's layer: one driver module per chapter, the chapters' parameters, statistics, publishing helpers and figures.

Nothing in the library imports this package (the command line, :mod:`sparselab.cli`, is a face on top of both
layers). Its modules run the experiments of a chapter by calling the library and return plain data (pandas
frames, dicts), which the notebooks glue into the text and draw with :mod:`sparselab.chapters.plots`.
"""
