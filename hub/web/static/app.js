// The workbench's only script: plain JavaScript, no library, nothing from the internet.
"use strict";
(function () {
  var CSRF = document.body.getAttribute("data-csrf") || "";
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function offline(on) { var b = $("#offline"); if (b) { b.hidden = !on; } }

  // ---- larger text, printing -----------------------------------------------------------
  var bigger = $("#bigger");
  function applyLarge(on) {
    document.documentElement.classList.toggle("large", on);
    if (bigger) { bigger.setAttribute("aria-pressed", on ? "true" : "false"); bigger.textContent = on ? "标准字" : "大字"; }
  }
  try { applyLarge(localStorage.getItem("hub.large") === "1"); } catch (e) { /* private mode */ }
  if (bigger) {
    bigger.addEventListener("click", function () {
      var on = !document.documentElement.classList.contains("large");
      applyLarge(on);
      try { localStorage.setItem("hub.large", on ? "1" : "0"); } catch (e) { /* ignore */ }
    });
  }
  $$(".js-print").forEach(function (b) { b.addEventListener("click", function () { window.print(); }); });

  // ---- live search on the home page -------------------------------------------------------
  var q = $("#q");
  if (q) {
    var timer = null;
    q.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch("/?partial=1&q=" + encodeURIComponent(q.value), { credentials: "same-origin" })
          .then(function (r) { offline(false); return r.text(); })
          .then(function (html) { $("#results").innerHTML = html; })
          .catch(function () { offline(true); });
      }, 150);
    });
    $("#search-form").addEventListener("submit", function (ev) {
      var first = $("#results a");
      if (first) { ev.preventDefault(); window.location = first.getAttribute("href"); }
    });
  }

  // ---- ID numbers (GB 11643): check digit, birth date and gender as it is typed -----------
  var W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], C = "10X98765432";
  function idProblem(v) {
    if (v.length !== 18) { return "身份证号码应为18位"; }
    if (!/^\d{17}[\dX]$/.test(v)) { return "身份证号码只能由数字和末位X组成"; }
    var y = +v.substr(6, 4), m = +v.substr(10, 2), d = +v.substr(12, 2);
    var dt = new Date(y, m - 1, d);
    if (dt.getFullYear() !== y || dt.getMonth() !== m - 1 || dt.getDate() !== d) { return "身份证号码中的出生日期无效"; }
    var s = 0; for (var i = 0; i < 17; i++) { s += (+v[i]) * W[i]; }
    if (C[s % 11] !== v[17]) { return "身份证号码校验位不正确，请核对后重新输入"; }
    return "";
  }
  function setError(field, msg) {
    if (!field) { return; }
    var p = $(".field-error", field);
    if (p) { p.textContent = msg || ""; }
    field.classList.toggle("bad", !!msg);
  }
  $$("input[data-idcard]").forEach(function (input) {
    var field = input.closest(".field");
    function check(final) {
      var v = input.value.trim().toUpperCase();
      var derived = $(".derived", field);
      derived.textContent = "";
      if (!v) { setError(field, ""); return; }
      if (v.length < 18 && !final) { setError(field, /^\d*$/.test(v) ? "" : "身份证号码只能由数字和末位X组成"); return; }
      var problem = idProblem(v);
      setError(field, problem);
      if (!problem) {
        derived.textContent = "出生日期：" + v.substr(6, 4) + "年" + (+v.substr(10, 2)) + "月" + (+v.substr(12, 2)) + "日，性别：" + ((+v[16]) % 2 ? "男" : "女");
      }
    }
    input.addEventListener("input", function () { check(false); });
    input.addEventListener("blur", function () { check(true); });
  });

  // ---- scans: pick or drop, upload with progress, the checklist ticks itself -----------
  function sizeLabel(n) { return n < 1024 ? n + " 字节" : n < 1048576 ? Math.round(n / 1024) + " KB" : (n / 1048576).toFixed(1) + " MB"; }
  function refreshMaterial(box) {
    var done = $$("li.uploaded", box).length, busy = $$("li.busy", box).length;
    box.classList.toggle("done", done > 0 && busy === 0);
    $(".mat-state", box).textContent = busy ? "上传中…" : done ? "已上传 " + done + " 份" : "未上传";
    if (done) { setError(box, ""); }
    var form = box.closest("form"), general = form && form.querySelector("#form-errors, .form-errors");
    if (general && /^(还缺|缺少材料)/.test(general.textContent) && !form.querySelector(".material.field.bad")) { general.hidden = true; }
  }
  function upload(box, file) {
    var li = document.createElement("li");
    li.className = "busy";
    if (/^image\//.test(file.type)) {
      var img = document.createElement("img"); img.alt = "预览"; img.src = URL.createObjectURL(file); li.appendChild(img);
    }
    var name = document.createElement("div"); name.className = "fname"; name.textContent = file.name; li.appendChild(name);
    var size = document.createElement("div"); size.textContent = sizeLabel(file.size); li.appendChild(size);
    var bar = document.createElement("progress"); bar.max = 100; bar.value = 0; li.appendChild(bar);
    var pct = document.createElement("span"); pct.className = "pct"; pct.textContent = "0%"; li.appendChild(pct);
    var remove = document.createElement("button"); remove.type = "button"; remove.className = "link"; remove.textContent = "删除";
    remove.addEventListener("click", function () { if (xhr.readyState !== 4) { xhr.abort(); } li.remove(); refreshMaterial(box); });
    li.appendChild(document.createTextNode(" ")); li.appendChild(remove);
    $(".files", box).appendChild(li);
    refreshMaterial(box);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/web/api/attachments?kind=" + encodeURIComponent(box.getAttribute("data-kind")));
    xhr.setRequestHeader("X-CSRF-Token", CSRF);
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.upload.addEventListener("progress", function (ev) {
      if (ev.lengthComputable) { var p = Math.round(ev.loaded * 100 / ev.total); bar.value = p; pct.textContent = p + "%"; }
    });
    xhr.addEventListener("load", function () {
      li.classList.remove("busy");
      if (xhr.status === 201) {
        var doc = JSON.parse(xhr.responseText);
        li.classList.add("uploaded"); li.setAttribute("data-ref", doc.ref);
        bar.value = 100; pct.textContent = "100% 已上传";
      } else {
        li.classList.add("failed"); pct.textContent = "上传失败：" + messageOf(xhr.responseText);
      }
      refreshMaterial(box);
    });
    xhr.addEventListener("error", function () {
      li.classList.remove("busy"); li.classList.add("failed"); pct.textContent = "上传失败，请检查网络后删除重传";
      offline(true); refreshMaterial(box);
    });
    xhr.send(file);
  }
  function messageOf(text) {
    try { var doc = JSON.parse(text); return (doc.errors && doc.errors[0] && doc.errors[0].message) || "请重试"; }
    catch (e) { return "请重试"; }
  }
  function wireMaterial(box) {
    var input = $(".file-input", box), drop = $(".drop", box);
    input.addEventListener("change", function () {
      Array.prototype.forEach.call(input.files, function (f) { upload(box, f); });
      input.value = "";
    });
    ["dragenter", "dragover"].forEach(function (t) { drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.add("over"); }); });
    ["dragleave", "drop"].forEach(function (t) { drop.addEventListener(t, function () { drop.classList.remove("over"); }); });
    drop.addEventListener("drop", function (ev) {
      ev.preventDefault();
      Array.prototype.forEach.call(ev.dataTransfer.files, function (f) { upload(box, f); });
    });
  }
  $$(".material").forEach(wireMaterial);
  function attachments(root) {
    var out = [];
    $$(".material", root).forEach(function (box) {
      $$("li.uploaded", box).forEach(function (li) { out.push({ ref: li.getAttribute("data-ref"), kind: box.getAttribute("data-kind") }); });
    });
    return out;
  }
  function materialsProblem(root) {
    var bad = false, busy = false;
    $$(".material", root).forEach(function (box) {
      if ($$("li.busy", box).length) { busy = true; }
      if (box.getAttribute("data-required") === "1" && !$$("li.uploaded", box).length) {
        setError(box, "请上传“" + box.getAttribute("data-name") + "”"); bad = true;
      }
    });
    return busy ? "还有材料正在上传，请等上传完成再提交" : bad ? "还缺必需的材料，请先上传" : "";
  }
  // Only an upload still running stops a submit here; everything else (missing materials
  // included) goes to the hub, whose problem list shows every problem at once.
  function uploadsBusy(root) {
    var problem = materialsProblem(root);
    return /^还有/.test(problem) ? problem : "";
  }

  // ---- problems from the hub, shown at their fields --------------------------------------
  function showProblems(form, box, errors) {
    var general = [];
    errors.forEach(function (e) {
      var path = e.path || "", field = null;
      while (path && !field) {
        field = form.querySelector('[data-path="' + path + '"]');
        if (!field) { path = path.indexOf(".") > 0 ? path.substr(0, path.lastIndexOf(".")) : ""; }
      }
      if (field && field.classList.contains("material")) { field = null; }
      if (field) { setError(field, e.message); } else { general.push(e.message); }
    });
    box.textContent = general.join("；");
    box.hidden = !general.length;
    var first = form.querySelector(".field.bad input, .field.bad select");
    if (first) { first.focus(); } else if (general.length) { box.scrollIntoView(); }
  }
  function clearProblems(form, box) {
    $$(".field", form).forEach(function (f) { if (!f.classList.contains("material")) { setError(f, ""); } });
    box.hidden = true; box.textContent = "";
  }
  function send(url, body, button, form, box, onOk) {
    button.disabled = true;
    fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF }, body: JSON.stringify(body) })
      .then(function (r) {
        offline(false);
        return r.text().then(function (t) { return { status: r.status, text: t }; });
      })
      .then(function (res) {
        button.disabled = false;
        var doc = {}; try { doc = JSON.parse(res.text); } catch (e) { doc = {}; }
        if (res.status === 202) { onOk(doc); return; }
        showProblems(form, box, doc.errors || [{ path: "", message: "提交未成功，请稍后再试" }]);
      })
      .catch(function () { button.disabled = false; offline(true); });
  }

  // ---- the case form ----------------------------------------------------------------------
  var form = $("#case-form");
  if (form) {
    var situation = form.getAttribute("data-situation") || "";
    var draftKey = "hub.draft." + form.getAttribute("data-item") + (situation ? "." + situation : "");
    var inputs = $$("[data-section]", form);
    try {
      var saved = JSON.parse(localStorage.getItem(draftKey) || "{}");
      inputs.forEach(function (el) { var k = el.getAttribute("data-section") + "." + (el.getAttribute("data-index") || "") + "." + el.name; if (saved[k]) { el.value = saved[k]; } });
    } catch (e) { /* no draft */ }
    form.addEventListener("input", function () {
      var d = {};
      inputs.forEach(function (el) { if (el.value) { d[el.getAttribute("data-section") + "." + (el.getAttribute("data-index") || "") + "." + el.name] = el.value; } });
      try { localStorage.setItem(draftKey, JSON.stringify(d)); } catch (e) { /* ignore */ }
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var box = $("#form-errors");
      clearProblems(form, box);
      var draft = { key: form.getAttribute("data-key"), applicant: {}, related: [], form: {}, attachments: attachments(form) };
      if (situation) { draft.situation = situation; }
      var home = $("#at-home", form);
      if (home) { draft.at_home = home.checked; }
      var members = {};
      $$("fieldset.related", form).forEach(function (fs, i) {
        if (fs.classList.contains("member")) { members[i] = true; }
        draft.related.push({ relation: fs.getAttribute("data-relation") });
      });
      inputs.forEach(function (el) {
        var v = el.value.trim(), sec = el.getAttribute("data-section");
        if (!v) { return; }
        if (el.hasAttribute("data-idcard")) { v = v.toUpperCase(); }
        if (sec === "applicant") { draft.applicant[el.name] = v; return; }
        if (sec === "related") { draft.related[+el.getAttribute("data-index")][el.name] = v; return; }
        var t = el.getAttribute("data-type");
        draft.form[el.name] = t === "int" ? parseInt(v, 10) : t === "number" ? parseFloat(v) : t === "bool" ? v === "true" : v;
      });
      // a household-member row left empty is no member (rows come last: earlier paths stay)
      draft.related = draft.related.filter(function (r, i) { return !members[i] || r.name || r.id_number; });
      var problem = uploadsBusy(form);
      if (problem) { box.textContent = problem; box.hidden = false; box.scrollIntoView(); return; }
      send("/web/api/items/" + encodeURIComponent(form.getAttribute("data-item")) + "/cases", draft, $("#submit"), form, box,
        function (doc) { try { localStorage.removeItem(draftKey); } catch (e) { /* ignore */ } window.location = doc.receipt; });
    });
  }

  // ---- resend after a request for materials -------------------------------------------
  function wireResend(root) {
    $$("form.resend", root).forEach(function (f) {
      f.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var box = $(".form-errors", f);
        clearProblems(f, box);
        var problem = materialsProblem(f);
        if (problem) { box.textContent = problem; box.hidden = false; return; }
        send("/web/api/cases/" + encodeURIComponent(f.getAttribute("data-code")) + "/supplements",
          { department: f.getAttribute("data-department"), attachments: attachments(f) },
          $("button[type=submit]", f), f, box, function () { refreshCase(true); });
      });
    });
  }

  // ---- the town queue redraws its rows every few seconds ---------------------------------
  var queue = $("#town-queue");
  if (queue) {
    setInterval(function () {
      if (document.hidden) { return; }
      fetch("/town" + location.search + (location.search ? "&" : "?") + "partial=1", { credentials: "same-origin" })
        .then(function (r) {
          offline(false);
          // signed out meanwhile: the page itself shows the sign-in form
          if (!r.ok || new URL(r.url).pathname !== "/town") { location.reload(); return null; }
          return r.text();
        })
        .then(function (html) { if (html !== null && queue.innerHTML.trim() !== html.trim()) { queue.innerHTML = html; } })
        .catch(function () { offline(true); });
    }, 1000 * Number(queue.getAttribute("data-every-s") || 10));
  }

  // ---- live updates from the village's event stream -------------------------------------
  var rows = $("#case-rows"), live = $("#case-live");
  function refreshRows() {
    fetch("/cases?partial=1&" + new URLSearchParams(new FormData($("#case-filter"))).toString(), { credentials: "same-origin" })
      .then(function (r) { offline(false); return r.text(); })
      .then(function (html) { rows.innerHTML = html; badge(); })
      .catch(function () { offline(true); });
  }
  function badge() {
    var r = $(".rows[data-waiting]"), b = $("#waiting-badge");
    if (r && b) { var n = r.getAttribute("data-waiting"); b.textContent = n; b.hidden = n === "0"; }
  }
  function refreshCase(force) {
    if (!force && $$("#case-live li.uploaded, #case-live li.busy").length) { return; }  // the clerk is attaching files
    fetch("/cases/" + encodeURIComponent(live.getAttribute("data-code")) + "?partial=1", { credentials: "same-origin" })
      .then(function (r) { offline(false); return r.text(); })
      .then(function (html) { live.innerHTML = html; $$(".material", live).forEach(wireMaterial); wireResend(live); })
      .catch(function () { offline(true); });
  }
  if (live) { wireResend(live); }
  if ((rows || live) && window.EventSource) {
    var pending = null;
    // From the feed position the page was drawn at: nothing that happened while it loaded is missed.
    var seq = (rows || live).getAttribute("data-feed-seq");
    var es = new EventSource("/web/api/events" + (seq ? "?after=" + encodeURIComponent(seq) : ""));
    var onEvent = function (ev) {
      var doc = {}; try { doc = JSON.parse(ev.data); } catch (e) { return; }
      if (live && doc.tracking_code !== live.getAttribute("data-code")) { return; }
      clearTimeout(pending);
      pending = setTimeout(function () { if (rows) { refreshRows(); } else { refreshCase(false); } }, 200);
    };
    es.addEventListener("leg", onEvent);
    es.addEventListener("case_created", onEvent);
    es.addEventListener("open", function () { offline(false); });
    es.addEventListener("error", function () { if (es.readyState !== 1) { offline(true); } });
  }
})();
