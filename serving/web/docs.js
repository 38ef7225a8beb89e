// Swagger UI on the function's own openapi.yaml; "try it out" calls go to this same function.
"use strict";
(function () {
  const base = window.location.origin + window.location.pathname.replace(/\/docs\/?$/, "");
  let specServer = null;
  window.ui = SwaggerUIBundle({
    url: base + "/assets/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    tryItOutEnabled: true,
    onComplete: function () {
      const servers = window.ui.specSelectors.servers();
      specServer = servers && servers.size ? servers.first().get("url") : null;
    },
    requestInterceptor: function (request) {
      if (specServer && request.url.startsWith(specServer)) {
        request.url = base + request.url.slice(specServer.length);
      }
      return request;
    },
  });
})();
