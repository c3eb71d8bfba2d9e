// Counts the brand page down, then enables Connect. The server checks the
// time too: this only saves the guest a refused click.
(function () {
  var box = document.getElementById("countdown");
  var button = document.getElementById("connect");
  if (!box || !button) return;
  var left = parseInt(box.getAttribute("data-seconds"), 10) || 0;
  var out = document.getElementById("seconds");
  button.disabled = true;
  function tick() {
    if (left <= 0) {
      box.textContent = box.getAttribute("data-done");
      button.disabled = false;
      return;
    }
    out.textContent = String(left);
    left -= 1;
    setTimeout(tick, 1000);
  }
  tick();
})();
