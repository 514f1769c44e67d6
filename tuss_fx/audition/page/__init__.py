"""The audition page: plain HTML, CSS and JavaScript, served as they are (no build step, no CDN)."""
