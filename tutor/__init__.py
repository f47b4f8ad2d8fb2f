"""The tutor behind course.py's exercises: each step as an exercise the learner writes, checked and diagnosed.

    tasks      the exercises as data: each step's task, the marks in the learner's file, hints, WHY
    exercise   writes the learner's file (course.py 2.1 --exercise -> my_2.1.py)
    cli        the check command: the probe subprocess, its events, timeouts, the answer
    probe      the subprocess: runs a script up to datavis.animate(...), reads graphs, then trains
    graph      a TensorFlow graph as a plain summary (the only module that imports TensorFlow)
    errors     an exception in the learner's file as one line: file, line, meaning
    check      two summaries compared, the differences in words
    diagnose   a short run's printed figures: stuck, NaN, noisy, overfitting, on track
    notes      the panels' tour, step 1.0's walk-through, where the scripts differ from the course's text

Standard library only, except probe and graph, which run in the check's subprocess with TensorFlow.
"""
MARK = "\x1etutor "      # starts each event line the probe prints for course.py (the rest is the script's output)
