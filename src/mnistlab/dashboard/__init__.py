"""The live six-panel dashboard: state (a fold of the events), panels and render (pure drawing), live
(the window), export (PNG/video), notebook, commands (show, compare). Only this package imports matplotlib."""
