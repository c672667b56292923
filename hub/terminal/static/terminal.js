// The village terminal's pages: refresh the case list, the receipt and the link state by polling
// this PC's own service (it answers even while the link to the county is down).
(function () {
  "use strict";
  function poll(box) {
    var url = box.getAttribute("data-poll");
    setInterval(function () {
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { box.innerHTML = html; } })
        .catch(function () { /* this PC's service restarting: try again next tick */ });
    }, 1500);
  }
  // The banner on every page (the form too: a clerk filling it in must see the link drop).
  function followLink(el) {
    setInterval(function () {
      fetch("/local/api/link", { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (doc) {
          el.textContent = doc.text; el.className = "link-state" + (doc.online ? "" : " down");
        })
        .catch(function () { /* this PC's service restarting: try again next tick */ });
    }, 1500);
  }
  // 扫描: the room's scanner (SANE) scans the pages of one material into one PDF on this PC; the
  // result joins the material's file list like a picked file (hub/web's app.js sends it).
  var csrf = document.body.getAttribute("data-csrf");
  Array.prototype.forEach.call(document.querySelectorAll(".material button.scan"), function (btn) {
    btn.addEventListener("click", function () {
      var box = btn.closest(".material"), state = box.querySelector(".scan-state");
      var pages = box.querySelector(".scan-pages").value || "1";
      btn.disabled = true; state.textContent = "正在扫描……";
      fetch("/web/api/scan?kind=" + encodeURIComponent(box.getAttribute("data-kind")) + "&pages=" + encodeURIComponent(pages),
        { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
        .then(function (r) { return r.json().then(function (doc) { return { status: r.status, doc: doc }; }); })
        .then(function (res) {
          btn.disabled = false;
          if (res.status !== 201) { state.textContent = (res.doc.errors && res.doc.errors[0].message) || "扫描失败"; return; }
          var li = document.createElement("li");
          li.className = "uploaded"; li.setAttribute("data-ref", res.doc.ref);
          li.textContent = res.doc.name + " · " + res.doc.size_label + " · 已扫描";
          box.querySelector(".files").appendChild(li);
          state.textContent = "已扫描 " + res.doc.pages + " 页";
          box.querySelector(".mat-state").textContent = "已上传";
          box.classList.add("done");
        })
        .catch(function () { btn.disabled = false; state.textContent = "本机服务没有响应，请重试"; });
    });
  });
  ["terminal-rows", "terminal-receipt", "terminal-case"].forEach(function (id) {
    var box = document.getElementById(id);
    if (box) { poll(box); }
  });
  var banner = document.getElementById("link-state");
  if (banner) { followLink(banner); }
})();
