/* The console's only script: live updates of a community's demands (Server-Sent Events). */
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  var community = live.getAttribute("data-community");
  var source = new EventSource("/console/live?community_id=" + encodeURIComponent(community));
  var fmt = new Intl.DateTimeFormat("zh-CN", {timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit",
                                               second: "2-digit", hour12: false});
  function refresh() {
    var box = document.getElementById("demands");
    if (!box) return;
    fetch("/console/communities/" + encodeURIComponent(community) + "/demands-fragment", {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) box.innerHTML = html; });
  }
  source.addEventListener("demand", function (e) {
    var d = JSON.parse(e.data);
    var li = document.createElement("li");
    var when = d.occurred_at ? fmt.format(new Date(d.occurred_at)) : "";
    li.textContent = when + " " + d.label + (d.category ? "：" + d.category : "") + (d.assignee ? "（" + d.assignee + "）" : "");
    if (live.firstElementChild && live.firstElementChild.classList.contains("muted")) live.innerHTML = "";
    live.insertBefore(li, live.firstChild);
    refresh();
  });
})();
