"""The governed agent pipeline: Supervisor → Data → Forecast → Risk → Optimizer → Execution → Supervisor approval."""
