// Counts the brand page down, then enables Connect (and the ad); with
// auto-login, sends the login by itself. A page opened from a QR code sends
// its form at once. The server checks the time too: this only saves the
// guest a refused tap.
(function () {
  var scan = document.getElementById("scan-form");
  if (scan && scan.getAttribute("data-autosubmit")) {
    scan.submit();
    return;
  }
  var resend = document.getElementById("resend");
  if (resend) {
    var wait = parseInt(resend.getAttribute("data-wait"), 10) || 0;
    var shown = document.getElementById("resend-seconds");
    resend.disabled = wait > 0;
    var down = function () {
      if (wait <= 0) { resend.disabled = false; if (shown) shown.parentNode.style.display = "none"; return; }
      if (shown) shown.textContent = String(wait);
      wait -= 1;
      setTimeout(down, 1000);
    };
    down();
  }
  var box = document.getElementById("countdown");
  var buttons = document.querySelectorAll("[data-countdown-button]");
  if (!box || !buttons.length) return;
  var left = parseInt(box.getAttribute("data-seconds"), 10) || 0;
  var out = document.getElementById("seconds");
  function enable(on) {
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = !on;
  }
  enable(false);
  function tick() {
    if (left <= 0) {
      box.textContent = box.getAttribute("data-done");
      enable(true);
      if (box.getAttribute("data-auto")) document.getElementById("countdown-form").submit();
      return;
    }
    out.textContent = String(left);
    left -= 1;
    setTimeout(tick, 1000);
  }
  tick();
})();
