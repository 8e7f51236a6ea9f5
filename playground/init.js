// Starts GraphiQL on the page, from the settings the service wrote into #playground-config:
// the GraphQL endpoint (relative to the page, so it works under any prefix), one tab per
// example operation in playground/*.graphql, and whether requests need an API key.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("playground-config").textContent);
  const endpoint = new URL(config.endpoint, window.location.href).toString();
  // Subscriptions go over a WebSocket to the same endpoint (graphql-transport-ws). A browser
  // cannot put headers on a WebSocket, so the headers editor's Authorization travels in
  // connection_init's payload; a changed Authorization opens a new connection.
  const wsUrl = endpoint.replace(/^http/, "ws");
  let wsClient = null;
  let wsAuthorization = null;
  function wsClientFor(headers) {
    const authorization = (headers && (headers.Authorization || headers.authorization)) || null;
    if (wsClient === null || authorization !== wsAuthorization) {
      if (wsClient !== null) {
        wsClient.dispose();
      }
      wsAuthorization = authorization;
      wsClient = graphqlWs.createClient({
        url: wsUrl,
        connectionParams: authorization ? { Authorization: authorization } : {},
      });
    }
    return wsClient;
  }
  const fetcher = (params, options) =>
    GraphiQL.createFetcher({ url: endpoint, wsClient: wsClientFor(options && options.headers) })(
      params,
      options
    );
  const tabs = config.tabs;
  // With authentication on, requests need "Authorization: Bearer <secret>": the headers
  // editor opens with a placeholder to replace with an API key or a session token.
  const authOn = config.authOn === true;
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultTabs: tabs,
      // GraphiQL opens the first tab from these two, not from its defaultTabs entry.
      query: tabs[0].query,
      variables: tabs[0].variables,
      defaultHeaders: authOn
        ? '{\n  "Authorization": "Bearer sk_... (an API key) or st_... (a session token)"\n}'
        : undefined,
      defaultEditorToolsVisibility: authOn ? "headers" : "variables",
      shouldPersistHeaders: false,
    })
  );
})();
