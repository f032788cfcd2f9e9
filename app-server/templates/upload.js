// Upload progress for the files page's form: sends the same multipart body (csrf, then file) with
// XMLHttpRequest to show bytes sent and allow Cancel. Without this script the form posts as usual.
// It reads only the form and the server's answer: no cookies, no storage, nothing added to URLs.
(function () {
  "use strict";

  var form = document.querySelector("form.upload");
  var panel = document.querySelector(".upload-progress");
  if (!form || !panel || !window.XMLHttpRequest || !window.FormData) {
    return;
  }
  var bar = panel.querySelector("progress");
  var status = panel.querySelector(".upload-status");
  var cancel = panel.querySelector("button.cancel");
  var failure = document.querySelector(".upload-error");
  var controls = form.querySelectorAll("input, button");
  var current = null;

  function size(bytes) {
    // As the server writes sizes (time_fmt::size): decimal units, one decimal place.
    var units = ["B", "KB", "MB", "GB", "TB"];
    var value = bytes;
    var unit = 0;
    while (value >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit += 1;
    }
    return unit === 0 ? bytes + " B" : value.toFixed(1) + " " + units[unit];
  }

  function setBusy(busy) {
    for (var i = 0; i < controls.length; i += 1) {
      controls[i].disabled = busy;
    }
    panel.hidden = !busy;
  }

  function showError(message) {
    failure.textContent = message;
    failure.hidden = false;
  }

  function finish() {
    current = null;
    status.textContent = "";
    setBusy(false);
  }

  // The pages put their readable message in `p.error`; a bare answer gets a generic line.
  function serverMessage(xhr) {
    var page = xhr.response;
    var found = page && page.querySelector ? page.querySelector("p.error") : null;
    var text = found ? found.textContent.trim() : "";
    return text || "The upload failed (HTTP " + xhr.status + "). Please try again.";
  }

  function showProgress(loaded, total) {
    bar.max = total;
    bar.value = loaded;
    var percent = Math.floor((loaded * 100) / total);
    status.textContent = size(loaded) + " of " + size(total) + " (" + percent + " %)";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (current) {
      return;
    }
    // Built before the controls are disabled: disabled fields are left out of a FormData.
    var body = new FormData(form);
    var xhr = new XMLHttpRequest();
    current = xhr;
    failure.hidden = true;
    bar.removeAttribute("value");
    status.textContent = "Starting the upload…";
    setBusy(true);
    cancel.disabled = false;

    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable && e.total > 0) {
        showProgress(e.loaded, e.total);
      }
    });
    xhr.upload.addEventListener("load", function () {
      bar.removeAttribute("value");
      status.textContent = "Sent; the server is saving the file…";
    });
    xhr.addEventListener("load", function () {
      if (xhr.status >= 200 && xhr.status < 300 && xhr.responseURL) {
        // The form's 303 was followed (to the files page, or to /login when signed out): go
        // where the plain form would have landed.
        window.location.assign(xhr.responseURL);
        return;
      }
      finish();
      showError(serverMessage(xhr));
    });
    xhr.addEventListener("error", function () {
      finish();
      showError("The upload failed: the connection to the server was lost. Please try again.");
    });
    xhr.addEventListener("abort", finish);

    xhr.open(form.method, form.action);
    xhr.responseType = "document";
    xhr.send(body);
  });

  cancel.addEventListener("click", function () {
    if (current) {
      current.abort();
    }
  });

  form.classList.add("enhanced");
})();
