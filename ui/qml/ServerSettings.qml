// The local API server's part of the settings: on/off, port, API key, whether API conversations
// are saved in the history (off by default), and a status line with the URL and the live request
// count. `apiServer` (ServerController) is set by main.cpp; without it
// (tests that build their own engine) the status line says so.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ColumnLayout {
    id: root
    property var settings: null
    readonly property var server: typeof apiServer !== "undefined" ? apiServer : null
    spacing: 8

    MenuSeparator { Layout.fillWidth: true }

    Label {
        text: qsTr("Local API server")
        font.bold: true
        Accessible.name: text
    }

    GridLayout {
        columns: 2
        columnSpacing: 16
        rowSpacing: 8
        Layout.fillWidth: true

        Label { text: qsTr("OpenAI-compatible API"); Accessible.name: text }
        Switch {
            id: enabledSwitch
            checked: root.settings ? root.settings.serverEnabled : false
            text: checked ? qsTr("On") : qsTr("Off")
            Accessible.name: qsTr("Serve the loaded model over an OpenAI-compatible API")
            onToggled: root.settings.serverEnabled = checked
        }

        Label { text: qsTr("Port"); Accessible.name: text }
        SpinBox {
            from: 1024
            to: 65535
            editable: true
            value: root.settings ? root.settings.serverPort : 5001
            textFromValue: (value) => String(value)
            valueFromText: (text) => Number(text)
            Accessible.name: qsTr("API server port")
            onValueModified: root.settings.serverPort = value
        }

        Label { text: qsTr("API key (optional)"); Accessible.name: text }
        TextField {
            Layout.fillWidth: true
            text: root.settings ? root.settings.serverApiKey : ""
            echoMode: TextInput.PasswordEchoOnEdit
            placeholderText: qsTr("none: any program on this computer may use it")
            selectByMouse: true
            Accessible.name: qsTr("API server key")
            onEditingFinished: root.settings.serverApiKey = text
        }

        Label { text: qsTr("History"); Accessible.name: text }
        CheckBox {
            id: saveHistoryBox
            checked: root.settings ? root.settings.serverSaveHistory : false
            text: qsTr("Save API conversations to history")
            Accessible.name: text
            Accessible.description: qsTr("Each finished chat request from the API is saved as a conversation titled API: and its first message")
            onToggled: root.settings.serverSaveHistory = checked
        }
    }

    Label {
        Layout.fillWidth: true
        wrapMode: Text.Wrap
        text: !root.server ? qsTr("The API server is not available in this window.")
              : root.server.running ? qsTr("%1 · requests: %2 running, %3 served")
                                      .arg(root.server.status).arg(root.server.activeRequests).arg(root.server.totalRequests)
              : root.server.status
        Accessible.name: qsTr("API server status: %1").arg(text)
    }

    Label {
        Layout.fillWidth: true
        wrapMode: Text.Wrap
        opacity: 0.7
        font.pointSize: Qt.application.font.pointSize * 0.85
        text: saveHistoryBox.checked
              ? qsTr("Listens on 127.0.0.1 only. Finished chat requests from the API are saved in the history, titled \"API: …\".")
              : qsTr("Listens on 127.0.0.1 only. Conversations from the API are not saved in the history.")
        Accessible.name: text
    }
}
