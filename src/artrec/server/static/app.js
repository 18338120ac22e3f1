// artrec gallery: like buttons, infinite scroll and live "For you" recommendations.
// Plain JavaScript, no build step. Every request goes to the same REST API as any client;
// the visitor is the signed cookie the page set, and writes send its CSRF token.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var body = document.body;
  var userId = body.dataset.userId;
  var csrfToken = body.dataset.csrfToken;
  var liked = new Set();
  var userBase = "/users/" + encodeURIComponent(userId);

  function toast(text) {
    var el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.classList.add("show");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { el.classList.remove("show"); }, 2500);
  }

  function api(method, url, data) {
    var opts = { method: method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    // Writes carry the visitor's CSRF token: the server refuses cookie-authenticated writes without it.
    if (method !== "GET" && csrfToken) opts.headers["X-CSRF-Token"] = csrfToken;
    if (data !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(data);
    }
    return fetch(url, opts).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (json) {
        if (!res.ok) throw new Error(json.detail || ("HTTP " + res.status));
        return json;
      });
    });
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function yearText(year) {
    if (year === null || year === undefined) return "";
    return " · " + (year < 0 ? (-year) + " BCE" : String(year));
  }

  function artworkHref(id) { return "/artworks/" + encodeURIComponent(id); }

  function buildCard(item, opts) {
    opts = opts || {};
    var card = el("article", "card" + (item.in_stock ? "" : " is-sold"));
    card.dataset.itemId = item.item_id;
    var link = el("a", "card-img");
    link.href = artworkHref(item.item_id);
    var img = el("img");
    img.src = item.image_url; img.alt = item.title || "Untitled"; img.loading = "lazy";
    img.width = 200; img.height = 200;
    link.appendChild(img);
    if (!item.in_stock) link.appendChild(el("span", "badge", "Sold"));
    card.appendChild(link);
    var cb = el("div", "card-body");
    var h = el("h3", "card-title");
    var a = el("a", null, item.title || "Untitled"); a.href = artworkHref(item.item_id);
    h.appendChild(a); cb.appendChild(h);
    cb.appendChild(el("p", "card-artist", (item.artist || "Unknown artist") + yearText(item.year)));
    if (opts.why) {
      cb.appendChild(el("p", "reason", opts.why.charAt(0).toUpperCase() + opts.why.slice(1)));
    } else if (opts.reason) {
      var p = el("p", "reason", "Because you liked ");
      var ra = el("a", null, opts.reason.item.title || opts.reason.item.item_id);
      ra.href = artworkHref(opts.reason.item.item_id);
      p.appendChild(ra);
      if (opts.reason.score !== null && opts.reason.score !== undefined) {
        p.appendChild(document.createTextNode(" "));
        var s = el("span", "score", opts.reason.score.toFixed(2)); s.title = "similarity";
        p.appendChild(s);
      }
      cb.appendChild(p);
    }
    card.appendChild(cb);
    var btn = el("button", "like");
    btn.type = "button"; btn.dataset.itemId = item.item_id; btn.title = "Like";
    btn.setAttribute("aria-pressed", liked.has(item.item_id) ? "true" : "false");
    btn.setAttribute("aria-label", "Like " + (item.title || "this artwork"));
    btn.innerHTML = "&#9829;";
    card.appendChild(btn);
    return card;
  }

  function setPressed(itemId, on) {
    document.querySelectorAll(".like").forEach(function (b) {
      if (b.dataset.itemId !== itemId) return;
      b.setAttribute("aria-pressed", on ? "true" : "false");
      var label = b.querySelector(".like-label");
      if (label) label.textContent = on ? "Liked" : "Like";
    });
    var count = document.getElementById("like-count");
    if (count) count.textContent = String(liked.size);
  }

  document.querySelectorAll('.like[aria-pressed="true"]').forEach(function (b) { liked.add(b.dataset.itemId); });
  api("GET", userBase + "/interactions?kind=like").then(function (res) {
    res.item_ids.forEach(function (id) { liked.add(id); });
    liked.forEach(function (id) { setPressed(id, true); });
  }).catch(function () {});

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest(".like") : null;
    if (!btn) return;
    ev.preventDefault();
    var id = btn.dataset.itemId;
    var on = btn.getAttribute("aria-pressed") !== "true";
    btn.disabled = true;
    var req = on
      ? api("POST", userBase + "/interactions", { item_id: id, kind: "like" })
      : api("DELETE", userBase + "/interactions/" + encodeURIComponent(id) + "?kind=like");
    req.then(function () {
      if (on) liked.add(id); else liked.delete(id);
      setPressed(id, on);
      toast(on ? "Liked — your recommendations are updated" : "Like removed");
      if (body.dataset.page === "for-you") refreshRecs();
    }).catch(function (err) { toast("Could not save: " + err.message); })
      .then(function () { btn.disabled = false; });
  });

  // -- gallery: infinite scroll (the pager stays as the no-JavaScript fallback) --------------
  var grid = document.getElementById("grid");
  var sentinel = document.getElementById("sentinel");
  if (grid && sentinel && "IntersectionObserver" in window) {
    var loading = false;
    var observer = new IntersectionObserver(function (entries) {
      if (!entries.some(function (e) { return e.isIntersecting; })) return;
      var next = grid.dataset.nextPage;
      if (!next || loading) return;
      loading = true;
      var params = new URLSearchParams({ page: next, per_page: grid.dataset.perPage });
      ["q", "artist", "century"].forEach(function (k) { if (grid.dataset[k]) params.set(k, grid.dataset[k]); });
      api("GET", "/items?" + params.toString()).then(function (res) {
        res.items.forEach(function (item) { grid.appendChild(buildCard(item)); });
        grid.dataset.nextPage = res.page < res.pages ? String(res.page + 1) : "";
        if (!grid.dataset.nextPage) observer.disconnect();
      }).catch(function (err) { toast("Could not load more: " + err.message); })
        .then(function () { loading = false; });
    }, { rootMargin: "600px" });
    observer.observe(sentinel);
  }

  // -- For you: live recommendations, similarity-only or diversified (MMR) ------------------
  var recs = document.getElementById("recs");
  var form = document.getElementById("mode-form");
  var slider = document.getElementById("lambda");
  var output = document.getElementById("lambda-value");
  var seq = 0;

  function currentMode() {
    var checked = form ? form.querySelector('input[name="mode"]:checked') : null;
    return checked ? checked.value : "similar";
  }

  function refreshRecs() {
    if (!recs) return;
    var mode = currentMode();
    var section = document.getElementById("recs-section");
    var params = new URLSearchParams({ k: section ? section.dataset.k : "24" });
    if (mode === "diverse") params.set("diversify", slider.value);
    var mine = ++seq;
    recs.setAttribute("aria-busy", "true");
    api("GET", userBase + "/recommendations?" + params.toString()).then(function (res) {
      if (mine !== seq) return;
      recs.textContent = "";
      res.results.forEach(function (r) { recs.appendChild(buildCard(r.item, {
        reason: r.because,
        why: r.reason && r.reason !== "similar" ? r.reason_text : null
      })); });
      var empty = document.getElementById("recs-empty");
      if (empty) empty.hidden = res.results.length > 0;
      var pc = document.getElementById("profile-count");
      if (pc) pc.textContent = "(" + res.profile.length + ")";
      var url = new URL(window.location.href);
      url.searchParams.set("mode", mode);
      url.searchParams.set("lambda", slider.value);
      history.replaceState(null, "", url.toString());
    }).catch(function (err) { toast("Could not load recommendations: " + err.message); })
      .then(function () { if (mine === seq) recs.removeAttribute("aria-busy"); });
  }

  if (form && slider) {
    var timer = null;
    form.addEventListener("change", function (ev) {
      if (ev.target.name === "mode") {
        slider.disabled = currentMode() !== "diverse";
        refreshRecs();
      }
    });
    slider.addEventListener("input", function () {
      output.textContent = Number(slider.value).toFixed(2);
      clearTimeout(timer);
      timer = setTimeout(refreshRecs, 200);
    });
    form.addEventListener("submit", function (ev) { ev.preventDefault(); refreshRecs(); });
  }
})();
