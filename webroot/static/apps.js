// The apps page's stop buttons: DELETE /instance/{id} with the session's CSRF token
// (the auth layer refuses a cookie-authenticated DELETE without it), then reload.
"use strict";
(function () {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const status = document.getElementById("status");
  for (const button of document.querySelectorAll("button.stop")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const response = await fetch("/instance/" + encodeURIComponent(button.dataset.id), {
          method: "DELETE",
          headers: { "x-csrf-token": token },
          credentials: "same-origin",
        });
        if (response.ok || response.status === 404) {
          location.reload();
          return;
        }
        const body = await response.json().catch(() => ({}));
        status.textContent = "Could not stop: " + (body.message || response.status);
      } catch (e) {
        status.textContent = "Could not stop: " + e;
      }
      button.disabled = false;
    });
  }
})();
