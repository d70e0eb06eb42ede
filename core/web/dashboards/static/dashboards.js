// Kith's dashboards page: plain JavaScript, no build step.
//
// Everything it shows comes from POST /graphql with the signed-in user's token (kept in
// sessionStorage, so it ends with the tab), so the server applies that user's
// permissions to every figure.  Without a token it shows the sign-in form and asks for
// nothing else.  The date range and the owner filter go to every tile's runReport.
(function () {
  "use strict";

  const TOKEN = "kith.dashboards.token";
  const EMAIL = "kith.dashboards.email";
  const EXPIRES = "kith.dashboards.expiresAt";
  // Okabe-Ito: told apart with every kind of colour blindness
  const COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];
  const CHARTS = { bar: "Bar chart", line: "Line chart", pie: "Pie chart", funnel: "Funnel" };
  const numbers = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

  const $ = (id) => document.getElementById(id);
  let charts = [];
  let dashboard = null;
  let generation = 0; // a newer run of the tiles makes an older one's answers stale

  class SignedOut extends Error {}

  // -- talking to Kith ------------------------------------------------------------------

  async function graphql(query, variables) {
    const headers = { "content-type": "application/json", accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN);
    if (token) headers.authorization = "Bearer " + token;
    const response = await fetch("/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables: variables || {} }),
      credentials: "omit",
      cache: "no-store",
    });
    if (response.status === 401) {
      showSignIn("Your session has ended: sign in again.");
      throw new SignedOut();
    }
    const body = await response.json();
    if (!response.ok && !body.errors) throw new Error("Kith answered " + response.status);
    return body;
  }

  function firstError(body) {
    // a refused input names its fields in extensions.errors; people read the messages
    if (!body.errors || !body.errors.length) return null;
    const fields = (body.errors[0].extensions || {}).errors;
    return fields && fields.length ? fields.map((e) => e.message).join("; ") : body.errors[0].message;
  }

  function sentence(text) {
    // Kith's messages are written to be read inside others ("email or password is wrong")
    const trimmed = String(text).trim();
    const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
    return /[.!?]$/.test(capital) ? capital : capital + ".";
  }

  function signedIn() {
    const token = sessionStorage.getItem(TOKEN);
    const expires = Date.parse(sessionStorage.getItem(EXPIRES) || "");
    if (token && !Number.isNaN(expires) && expires <= Date.now()) {
      forget();
      return false;
    }
    return Boolean(token);
  }

  function forget() {
    [TOKEN, EMAIL, EXPIRES].forEach((key) => sessionStorage.removeItem(key));
  }

  // -- what is shown --------------------------------------------------------------------

  function show(section) {
    ["sign-in", "list", "dashboard"].forEach((id) => ($(id).hidden = id !== section));
    $("page-error").hidden = true;
    const email = sessionStorage.getItem(EMAIL);
    $("who").hidden = section === "sign-in" || !email;
    $("who-email").textContent = email || "";
  }

  function pageError(message) {
    $("page-error").textContent = message;
    $("page-error").hidden = false;
    document.body.dataset.state = "error";
  }

  function clearCharts() {
    charts.forEach((chart) => chart.destroy());
    charts = [];
  }

  function showSignIn(message) {
    forget();
    generation++; // answers still on their way are dropped
    clearCharts();
    dashboard = null;
    $("tiles").replaceChildren();
    $("dashboard-list").replaceChildren();
    show("sign-in");
    const error = $("sign-in-error");
    error.textContent = message || "";
    error.hidden = !message;
    document.body.dataset.state = "signed-out";
    $("sign-in-email").focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const email = $("sign-in-email").value.trim();
    const password = $("sign-in-password").value;
    const error = $("sign-in-error");
    if (!email || !password) {
      error.textContent = "Enter your email and your password.";
      error.hidden = false;
      return;
    }
    const body = await graphql(
      "mutation SignIn($email: String!, $password: String!) {" +
        " login(email: $email, password: $password) { token expiresAt errors { message } } }",
      { email, password },
    );
    const login = body.data && body.data.login;
    const problem = firstError(body) || (login && login.errors.length ? login.errors[0].message : null);
    if (problem || !login || !login.token) {
      error.textContent = sentence(problem || "signing in failed");
      error.hidden = false;
      $("sign-in-password").select();
      return;
    }
    sessionStorage.setItem(TOKEN, login.token);
    sessionStorage.setItem(EMAIL, email);
    if (login.expiresAt) sessionStorage.setItem(EXPIRES, login.expiresAt);
    $("sign-in-password").value = "";
    await route();
  }

  function signOut() {
    showSignIn("You are signed out.");
  }

  // -- the list of dashboards -----------------------------------------------------------

  async function showList() {
    const body = await graphql("{ dashboards { id name tiles { chart } } }");
    if (firstError(body)) return pageError(sentence(firstError(body)));
    const list = $("dashboard-list");
    list.replaceChildren(
      ...body.data.dashboards.map((item) => {
        const link = document.createElement("a");
        link.href = "/dashboards/" + encodeURIComponent(item.id);
        const name = document.createElement("strong");
        name.textContent = item.name;
        const count = document.createElement("span");
        count.textContent = item.tiles.length + (item.tiles.length === 1 ? " tile" : " tiles");
        link.append(name, count);
        const entry = document.createElement("li");
        entry.append(link);
        return entry;
      }),
    );
    $("list-empty").hidden = body.data.dashboards.length > 0;
    show("list");
    document.title = "Dashboards · Kith";
    document.body.dataset.state = "ready";
  }

  // -- one dashboard --------------------------------------------------------------------

  function filtersFromUrl() {
    const params = new URLSearchParams(location.search);
    return { from: params.get("from") || "", to: params.get("to") || "", owner: params.get("owner") || "" };
  }

  async function showDashboard(id) {
    const body = await graphql(
      "query Dashboard($id: ID!) { dashboard(id: $id) { id name tiles { reportId chart title width } } }",
      { id },
    );
    if (firstError(body)) return pageError(sentence(firstError(body)));
    if (!body.data.dashboard) {
      show("dashboard");
      $("dashboard").hidden = true;
      return pageError("There is no dashboard " + id + ".");
    }
    dashboard = body.data.dashboard;
    $("dashboard-title").textContent = dashboard.name;
    document.title = dashboard.name + " · Kith";
    const filters = filtersFromUrl();
    $("filter-from").value = filters.from;
    $("filter-to").value = filters.to;
    show("dashboard");
    await loadOwners(filters.owner);
    await runTiles();
  }

  async function loadOwners(selected) {
    // people whose records can be picked; hidden when the reader may not list users
    const body = await graphql("{ users(first: 100, orderBy: [{ name: ASC }]) { nodes { id name } } }");
    const select = $("filter-owner");
    select.replaceChildren(new Option("Anyone", ""));
    if (firstError(body) || !body.data || !body.data.users) {
      $("owner-filter").hidden = true;
      return;
    }
    body.data.users.nodes.forEach((user) => select.append(new Option(user.name, user.id)));
    select.value = selected;
    if (select.value !== selected) select.value = "";
    $("owner-filter").hidden = false;
  }

  function currentFilters() {
    return {
      from: $("filter-from").value,
      to: $("filter-to").value,
      owner: $("owner-filter").hidden ? "" : $("filter-owner").value,
    };
  }

  async function applyFilters(event) {
    if (event) event.preventDefault();
    const filters = currentFilters();
    if (filters.from && filters.to && filters.from > filters.to) {
      $("dashboard-status").textContent = "The start of the range is after its end.";
      return;
    }
    const params = new URLSearchParams();
    Object.entries(filters).forEach(([key, value]) => value && params.set(key, value));
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
    await runTiles();
  }

  async function clearFilters() {
    $("filter-from").value = "";
    $("filter-to").value = "";
    $("filter-owner").value = "";
    await applyFilters();
  }

  function describeFilters(filters) {
    const parts = [];
    if (filters.from && filters.to) parts.push("from " + filters.from + " to " + filters.to);
    else if (filters.from) parts.push("from " + filters.from + " on");
    else if (filters.to) parts.push("up to " + filters.to);
    if (filters.owner) parts.push("owned by " + $("filter-owner").selectedOptions[0].text);
    return parts.length ? "Figures " + parts.join(", ") + "." : "All figures you may read.";
  }

  async function runTiles() {
    const run = ++generation;
    clearCharts();
    document.body.dataset.state = "loading";
    const filters = currentFilters();
    $("dashboard-status").textContent = "Loading…";
    const container = $("tiles");
    const tiles = dashboard.tiles.map((tile, index) => emptyTile(tile, index));
    container.replaceChildren(...tiles.map((t) => t.element));
    const variables = {
      dateFrom: filters.from ? localMidnight(filters.from, 0) : null,
      dateTo: filters.to ? localMidnight(filters.to, 1) : null, // the whole of the last day
      filter: filters.owner ? { ownerId: { eq: filters.owner } } : null,
    };
    await Promise.all(
      dashboard.tiles.map(async (tile, index) => {
        const element = tiles[index];
        try {
          const body = await graphql(
            "query Tile($id: ID!, $dateFrom: DateTime, $dateTo: DateTime, $filter: JSON) {" +
              " runReport(id: $id, dateFrom: $dateFrom, dateTo: $dateTo, filter: $filter) {" +
              " columns { name label kind } rows } }",
            { id: tile.reportId, ...variables },
          );
          if (run !== generation) return;
          const problem = firstError(body);
          if (problem || !body.data || !body.data.runReport) throw new Error(problem || "no figures");
          draw(element, tile, body.data.runReport);
        } catch (error) {
          if (error instanceof SignedOut || run !== generation) return;
          element.body.replaceChildren(paragraph("This tile could not be drawn: " + sentence(error.message), "error"));
          element.element.dataset.state = "error";
        }
      }),
    );
    if (run !== generation || !dashboard) return;
    $("dashboard-status").textContent = describeFilters(filters);
    document.body.dataset.state = "ready";
  }

  function localMidnight(day, plusDays) {
    // the start of a day of the date inputs in the viewer's time zone, as an instant
    const [year, month, date] = day.split("-").map(Number);
    return new Date(year, month - 1, date + plusDays).toISOString();
  }

  function emptyTile(tile, index) {
    const element = document.createElement("article");
    element.className = "tile w-" + tile.width;
    element.dataset.chart = tile.chart.toLowerCase();
    element.dataset.report = tile.reportId;
    element.dataset.state = "loading";
    element.setAttribute("aria-labelledby", "tile-" + index + "-title");
    const title = document.createElement("h2");
    title.id = "tile-" + index + "-title";
    title.textContent = tile.title;
    const body = document.createElement("div");
    body.className = "tile-body";
    body.append(paragraph("Loading…"));
    element.append(title, body);
    return { element, body, title: tile.title };
  }

  // -- drawing --------------------------------------------------------------------------

  function paragraph(text, className) {
    const p = document.createElement("p");
    p.textContent = text;
    if (className) p.className = className;
    return p;
  }

  function label(value) {
    if (value === null || value === undefined || value === "") return "(none)";
    const text = String(value);
    // a date bucket at midnight reads as its date
    const midnight = /^(\d{4}-\d{2}-\d{2})T00:00:00(\.0+)?(Z|[+-]00:00)?$/.exec(text);
    return midnight ? midnight[1] : text;
  }

  function amount(value) {
    const number = Number(value);
    return value === null || value === undefined || Number.isNaN(number) ? 0 : number;
  }

  function shown(value, column) {
    if (column.kind === "measure" && value !== null && value !== undefined && !Number.isNaN(Number(value))) {
      return numbers.format(Number(value));
    }
    return label(value);
  }

  function draw(tile, spec, result) {
    const kind = spec.chart.toLowerCase();
    const measures = result.columns.filter((c) => c.kind === "measure");
    if (!measures.length || !result.rows.length) {
      tile.body.replaceChildren(paragraph("No figures for this range.", "notice"));
    } else if (kind === "number") {
      tile.body.replaceChildren(numberTile(result, measures[0]));
    } else if (kind === "table") {
      tile.body.replaceChildren(table(result, tile.title));
    } else {
      tile.body.replaceChildren(...chartTile(kind, result, measures, tile.title));
    }
    tile.element.dataset.state = "ready";
  }

  function numberTile(result, measure) {
    const value = result.rows[0][measure.name];
    const figure = document.createElement("p");
    figure.className = "number";
    const data = document.createElement("data");
    data.value = value === null || value === undefined ? "" : String(value);
    data.textContent = value === null || value === undefined ? "–" : numbers.format(Number(value));
    const caption = document.createElement("span");
    caption.textContent = measure.label;
    figure.append(data, caption);
    return figure;
  }

  function table(result, caption) {
    const wrap = document.createElement("div");
    wrap.className = "table-wrap";
    const element = document.createElement("table");
    const title = element.createCaption();
    title.textContent = caption;
    const head = element.createTHead().insertRow();
    result.columns.forEach((column) => {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = column.label;
      if (column.kind === "measure") th.className = "measure";
      head.append(th);
    });
    const body = element.createTBody();
    result.rows.forEach((row) => {
      const tr = body.insertRow();
      result.columns.forEach((column) => {
        const cell = tr.insertCell();
        cell.textContent = shown(row[column.name], column);
        cell.dataset.column = column.name;
        if (row[column.name] !== null && row[column.name] !== undefined) cell.dataset.value = String(row[column.name]);
        if (column.kind === "measure") cell.className = "measure";
      });
    });
    wrap.append(element);
    return wrap;
  }

  function series(result, measures) {
    // labels from the first dimension; one series per measure, or per value of a second dimension
    const dimensions = result.columns.filter((c) => c.kind === "dimension");
    const first = dimensions[0];
    const labels = [];
    const seen = new Map();
    result.rows.forEach((row) => {
      const key = first ? label(row[first.name]) : measures[0].label;
      if (!seen.has(key)) {
        seen.set(key, labels.length);
        labels.push(key);
      }
    });
    if (dimensions.length > 1) {
      const second = dimensions[1];
      const groups = new Map();
      result.rows.forEach((row) => {
        const name = label(row[second.name]);
        if (!groups.has(name)) groups.set(name, new Array(labels.length).fill(0));
        const key = first ? label(row[first.name]) : measures[0].label;
        groups.get(name)[seen.get(key)] += amount(row[measures[0].name]);
      });
      return { labels, datasets: [...groups].map(([name, data]) => ({ label: name, data })) };
    }
    return {
      labels,
      datasets: measures.map((measure) => ({
        label: measure.label,
        data: result.rows.map((row) => amount(row[measure.name])),
      })),
    };
  }

  function chartTile(kind, result, measures, title) {
    // a pie or a funnel shows one figure per step or slice: the first measure
    const data = series(result, kind === "pie" || kind === "funnel" ? measures.slice(0, 1) : measures);
    if (kind === "funnel") {
      // the widest step first: a horizontal bar chart sorted by the first measure
      const order = data.labels.map((_, i) => i).sort((a, b) => data.datasets[0].data[b] - data.datasets[0].data[a]);
      data.labels = order.map((i) => data.labels[i]);
      data.datasets = data.datasets.map((set) => ({ ...set, data: order.map((i) => set.data[i]) }));
    }
    data.datasets.forEach((set, i) => {
      if (kind === "pie") {
        set.backgroundColor = set.data.map((_, j) => COLOURS[j % COLOURS.length]);
        set.borderColor = "#ffffff";
      } else {
        set.backgroundColor = COLOURS[i % COLOURS.length];
        set.borderColor = COLOURS[i % COLOURS.length];
      }
    });
    const box = document.createElement("div");
    box.className = "chart";
    const canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", CHARTS[kind] + ": " + title + ". Its figures are in the table below.");
    box.append(canvas);
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "Figures as a table";
    details.append(summary, table(result, title));
    const type = kind === "funnel" ? "bar" : kind;
    const horizontal = kind === "funnel";
    const chart = new Chart(canvas, {
      type,
      data,
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: horizontal ? "y" : "x",
        plugins: {
          legend: { display: kind === "pie" || data.datasets.length > 1, position: "bottom" },
          tooltip: { callbacks: { label: (item) => item.dataset.label + ": " + numbers.format(item.raw) } },
        },
        scales: kind === "pie" ? {} : { [horizontal ? "x" : "y"]: { beginAtZero: true } },
      },
    });
    charts.push(chart);
    return [box, details];
  }

  // -- start ----------------------------------------------------------------------------

  async function route() {
    if (!signedIn()) return showSignIn();
    const match = /^\/dashboards\/([^/]+)\/?$/.exec(location.pathname);
    document.body.dataset.state = "loading";
    if (match) await showDashboard(decodeURIComponent(match[1]));
    else await showList();
    $("main").focus({ preventScroll: true }); // where a screen reader goes on from
  }

  function guard(handler) {
    return (event) =>
      handler(event).catch((error) => {
        if (!(error instanceof SignedOut)) pageError("Something went wrong: " + error.message);
      });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", guard(signIn));
    $("sign-out").addEventListener("click", signOut);
    $("filters").addEventListener("submit", guard(applyFilters));
    $("filters-clear").addEventListener("click", guard(clearFilters));
    if (typeof Chart === "undefined") return pageError("The charting library did not load.");
    guard(route)();
  });
})();
