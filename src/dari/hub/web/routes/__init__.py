"""One router per resource; `dari.hub.web.app` only includes them."""
