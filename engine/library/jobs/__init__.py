"""The library's long jobs, each with progress and cancel: scanning folders, the fine-tune, switching models, and the task list the window and the command line both run. Top layer."""
