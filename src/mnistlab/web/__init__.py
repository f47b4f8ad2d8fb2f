"""mnistlab in the browser: the prediction service with its draw-a-digit page (`mnistlab serve`) and the live
training dashboard (`mnistlab train --display web`). Only this package imports the web stack (FastAPI,
uvicorn); the CLI imports `web.commands`, which imports it only when a command runs."""
