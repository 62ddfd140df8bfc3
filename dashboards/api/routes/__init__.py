"""One router per noun; each route names the role it needs through its dependencies."""
